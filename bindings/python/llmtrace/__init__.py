"""llmtrace for Python: trace LLM calls through the C API (libllmtrace_c.so) with ctypes.

Client.trace() never blocks and never raises for a full queue; a background thread inside the C library
ships batches to the collector. A Client may be shared by threads. Call shutdown() (or rely on the
interpreter's exit hook) to flush within a deadline.
"""

from ._client import KINDS, Client, LLMTraceError, Span, TraceResult, default_client, load_library, new_id
from ._openai import wrap_openai, instrument

__all__ = ["KINDS", "Span", "Client", "LLMTraceError", "TraceResult", "default_client", "load_library", "new_id", "wrap_openai", "instrument"]
__version__ = "0.1.0"
