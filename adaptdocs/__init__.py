"""adaptdocs: teach a local language model your documents, and measure how well it learned them."""

from .errors import AdaptdocsError
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = ["AdaptdocsError", "Workspace", "__version__"]
