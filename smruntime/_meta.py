"""``client.meta``: what boto3 code reads of a client's metadata (region, endpoint, config,
partition, service model) and the event hooks (:mod:`smruntime._hooks`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from smruntime._hooks import EventHooks

if TYPE_CHECKING:
    from smruntime._config import Config

__all__ = [
    "API_VERSION",
    "SERVICE_ID",
    "SERVICE_NAME",
    "ClientMeta",
    "OperationModel",
    "ServiceModel",
]

SERVICE_NAME = "sagemaker-runtime"
#: The name of the HTTP/2 service (``InvokeEndpointWithBidirectionalStream``) in the AWS
#: models (sdkId "SageMaker Runtime HTTP2"); reserved, not served by this client.
HTTP2_SERVICE_NAME = "sagemaker-runtime-http2"
SERVICE_ID = "SageMaker Runtime"
API_VERSION = "2017-05-13"
SIGNING_NAME = "sagemaker"
#: The prefix of the event names this client emits (botocore's hyphenized service id).
EVENT_PREFIX = "sagemaker-runtime"


class OperationModel:
    """The ``model`` passed to parameter hooks: ``name`` (the API name), ``service_model``."""

    def __init__(self, name: str, service_model: ServiceModel) -> None:
        self.name = name
        self.service_model = service_model

    def __repr__(self) -> str:
        return f"OperationModel(name={self.name!r})"


class ServiceModel:
    """``client.meta.service_model``: the service's names and its operations."""

    service_name = SERVICE_NAME
    service_id = SERVICE_ID
    api_version = API_VERSION
    signing_name = SIGNING_NAME
    endpoint_prefix = "runtime.sagemaker"
    protocol = "rest-json"
    signature_version = "v4"

    def __init__(self) -> None:
        from smruntime._model import OPERATIONS

        self._operations = {spec.name: spec for spec in OPERATIONS.values()}

    @property
    def operation_names(self) -> list[str]:
        """The API names, sorted (as botocore lists them)."""
        return sorted(self._operations)

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "endpointPrefix": self.endpoint_prefix,
            "protocol": self.protocol,
            "serviceId": self.service_id,
            "signatureVersion": self.signature_version,
            "signingName": self.signing_name,
            "uid": f"runtime.sagemaker-{self.api_version}",
        }

    def operation_model(self, operation_name: str) -> OperationModel:
        """The model of ``operation_name`` (``KeyError`` for another name, as botocore's
        ``OperationNotFoundError`` is a ``KeyError``-like lookup failure)."""
        if operation_name not in self._operations:
            raise KeyError(operation_name)
        return OperationModel(operation_name, self)

    def __repr__(self) -> str:
        return f"ServiceModel({self.service_name})"


class ClientMeta:
    """``client.meta``: ``region_name``, ``endpoint_url``, ``config``, ``partition``,
    ``service_model``, ``method_to_api_mapping`` and ``events`` (register hooks here)."""

    def __init__(self, region_name: str, endpoint_url: str, config: Config) -> None:
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.config = config
        self.service_model = ServiceModel()
        self.events = EventHooks()

    @property
    def partition(self) -> str:
        from smruntime._endpoints import partition_for

        try:
            return partition_for(self.region_name.strip().lower())["id"]
        except Exception:  # noqa: BLE001 - an odd region name still has a (default) partition
            return "aws"

    @property
    def method_to_api_mapping(self) -> Mapping[str, str]:
        from smruntime._model import OPERATIONS

        return {snake: spec.name for snake, spec in OPERATIONS.items()}

    def __repr__(self) -> str:
        return f"<ClientMeta region={self.region_name!r}>"
