from . import listener
