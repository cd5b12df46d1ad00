"""The three operations and their parameters as ``invoke`` options: one table for the parser
and for building the request."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

OP_INVOKE = "InvokeEndpoint"
OP_ASYNC = "InvokeEndpointAsync"
OP_STREAM = "InvokeEndpointWithResponseStream"

_ALL = frozenset({OP_INVOKE, OP_ASYNC, OP_STREAM})
_SYNC = frozenset({OP_INVOKE, OP_STREAM})


class Param(NamedTuple):
    """One ``invoke`` option: its dest, the boto3 parameter, the operations that accept it, its
    help text and any further ``add_argument`` keywords (type, metavar)."""

    dest: str
    name: str
    ops: frozenset[str]
    help: str
    extra: Optional[dict[str, Any]] = None


PARAMS: tuple[Param, ...] = (
    Param("content_type", "ContentType", _ALL, "MIME type of the body"),
    Param("accept", "Accept", _ALL, "MIME type wanted back"),
    Param(
        "custom_attributes",
        "CustomAttributes",
        _ALL,
        "e.g. accept_eula=true (visible ASCII)",
        {"metavar": "TEXT"},
    ),
    Param(
        "target_model",
        "TargetModel",
        frozenset({OP_INVOKE}),
        "(InvokeEndpoint) model of a multi-model endpoint",
    ),
    Param("target_variant", "TargetVariant", _SYNC, "production variant to call"),
    Param(
        "target_container_hostname",
        "TargetContainerHostname",
        _SYNC,
        "container of a multi-container",
    ),
    Param("inference_id", "InferenceId", _ALL, "your id for this request"),
    Param(
        "enable_explanations",
        "EnableExplanations",
        frozenset({OP_INVOKE}),
        "(InvokeEndpoint) Clarify expression",
    ),
    Param(
        "inference_component_name",
        "InferenceComponentName",
        _SYNC,
        "inference component to call",
    ),
    Param(
        "session_id",
        "SessionId",
        _SYNC,
        "stateful session id (NEW_SESSION opens one, InvokeEndpoint only)",
    ),
    Param("prefix_aware_id", "PrefixAwareId", _SYNC, "routing hint for PREFIX_AWARE endpoints"),
    Param(
        "input_location",
        "InputLocation",
        frozenset({OP_ASYNC}),
        "(async) s3:// or https:// URI of the input",
    ),
    Param(
        "s3_output_path_extension",
        "S3OutputPathExtension",
        frozenset({OP_ASYNC}),
        "(async) output path suffix",
    ),
    Param("filename", "Filename", frozenset({OP_ASYNC}), "(async) name of the output file"),
    Param(
        "request_ttl_seconds",
        "RequestTTLSeconds",
        frozenset({OP_ASYNC}),
        "(async) 60-21600",
        {"type": int, "metavar": "N"},
    ),
    Param(
        "invocation_timeout_seconds",
        "InvocationTimeoutSeconds",
        frozenset({OP_ASYNC}),
        "(async) 1-3600",
        {"type": int, "metavar": "N"},
    ),
)


def option_name(dest: str) -> str:
    """The option for an argparse dest: ``read_timeout`` -> ``--read-timeout``."""
    return "--" + dest.replace("_", "-")
