"""Exit codes, the errors commands raise, and the one-line message for any exception."""

from __future__ import annotations

from smruntime.cli._format import one_line

PROG = "smruntime"

EXIT_OK = 0
EXIT_RUNTIME = 1  # anything else: credentials, connection refused, a bad file, a bad record...
EXIT_USAGE = 2
EXIT_SERVICE_ERROR = 3  # the service answered with an HTTP error (ValidationError, ModelError, ...)
EXIT_STREAM_ERROR = 4  # an error inside a 200 stream (ModelStreamError, a container's error record)
EXIT_TRUNCATED = 5  # the stream (or a capture) was cut, corrupt, empty, or not an event stream
EXIT_TIMEOUT = 6  # connect or read timeout
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`


EXIT_CODES_HELP = (
    "exit codes: 0 ok, 1 other failure (credentials, connection, file, a record that does not "
    "parse), 2 usage, 3 the service answered with an error, 4 an error inside the stream, 5 the "
    "stream was cut, corrupt or not an event stream, 6 timeout, 130 interrupted, 141 stdout "
    "closed early (| head)"
)
"""The exit codes as the ``--help`` epilog and the README's "Command line" section give them."""

# The library's hints name its own API; on the command line the options do the same.
_CLI_WORDS = (
    ("pass region_name='us-east-1' or similar", "pass --region us-east-1 or similar"),
    ("pass region_name=...", "pass --region"),
    ("give an endpoint_url", "give --endpoint-url"),
    ("raise max_attempts", "raise --max-attempts"),
    ("Enable DEBUG logging for 'smruntime' to see", "Run with --debug to see"),
    ("pass InferenceComponentName=", "pass --inference-component-name"),
)


def cli_words(message: str) -> str:
    """``message`` with the library's advice (``pass region_name=``, ``raise max_attempts``,
    ...) put in terms of the command line options."""
    for library, cli in _CLI_WORDS:
        message = message.replace(library, cli)
    return message


class CLIError(Exception):
    """A failure reported as one line on stderr; ``code`` is the exit code."""

    def __init__(self, message: str, *, code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CLIError):
    """The command line itself is wrong (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=EXIT_USAGE)


def describe_error(exc: BaseException, *, debug: bool = False) -> tuple[int, str]:
    """Exit code and one-line message for an exception raised by a command (``debug``: run
    with ``--debug``, so the advice to run with it is left out)."""
    code, message = _describe(exc)
    if isinstance(exc, CLIError):
        return code, message
    message = cli_words(message)
    if debug:
        message = message.replace("Run with --debug to see", "The debug log above shows")
    return code, message


def _describe(exc: BaseException) -> tuple[int, str]:
    from eventstream.exceptions import EventStreamError
    from sigv4.exceptions import SigV4Error
    from smruntime.exceptions import (
        ClientError,
        ConnectTimeoutError,
        ContainerStreamError,
        EndpointResolutionError,
        IncompleteRecordError,
        ParamValidationError,
        ReadTimeoutError,
        RecordError,
        SMRuntimeError,
        StreamError,
        StreamResetError,
        WriteTimeoutError,
    )
    from smruntime.exceptions import EventStreamError as InStreamError

    if isinstance(exc, CLIError):
        return exc.code, one_line(str(exc))
    if isinstance(exc, (ParamValidationError, EndpointResolutionError)):
        # (the endpoint comes from --endpoint-url / --region: a bad value is a usage error)
        return EXIT_USAGE, one_line(str(exc))
    if isinstance(exc, ClientError):
        message = one_line(str(exc))
        if exc.hint and "Hint:" not in message:
            message += f" Hint: {exc.hint}"
        # an exception or error message inside the stream (ModelStreamError,
        # InternalStreamFailure, an unmodeled one): after the 200, not the service's answer
        in_stream = isinstance(exc, InStreamError)
        return (EXIT_STREAM_ERROR if in_stream else EXIT_SERVICE_ERROR), message
    message = one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, ContainerStreamError):
        return EXIT_STREAM_ERROR, message
    if isinstance(exc, RecordError) and not isinstance(exc, IncompleteRecordError):
        # The frames were fine; a record does not parse (or is over the size limit).
        return EXIT_RUNTIME, message
    if isinstance(exc, StreamError):
        return EXIT_TRUNCATED, message
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, WriteTimeoutError)):
        return EXIT_TIMEOUT, message
    if isinstance(exc, StreamResetError):  # an HTTP/2 stream cut by RST_STREAM or GOAWAY
        return EXIT_TRUNCATED, message
    if isinstance(exc, (SMRuntimeError, SigV4Error, EventStreamError)):
        return EXIT_RUNTIME, message
    if isinstance(exc, ImportError):  # an optional extra is missing: the message says which
        return EXIT_RUNTIME, message
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
        where = f": {exc.filename}" if exc.filename else ""
        return EXIT_RUNTIME, f"{detail}{where}"
    return (
        EXIT_RUNTIME,
        f"unexpected {type(exc).__name__}: {one_line(str(exc))} (--debug shows the traceback)",
    )
