from . import test_install
from . import test_connect
from . import test_status
from . import test_secrets
from . import test_access
from . import test_blocklist
from . import test_sync
from . import test_ui
