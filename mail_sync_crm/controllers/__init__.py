from . import oauth
from . import thread
