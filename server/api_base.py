"""flask-smorest pieces shared by the API modules: the blueprint class (validation errors are
400, as the service answers them), the API class (its OpenAPI error schema is the service's
envelope) and the documentation of the ``Idempotency-Key`` and ``Location`` headers."""
from __future__ import annotations

from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from webargs.flaskparser import FlaskParser


class ErrorDetailSchema(Schema):
    """``error`` of the envelope: a machine code, a sentence, and reasons per field."""

    code = fields.String(metadata={"example": "VALIDATION_ERROR"})
    message = fields.String()
    details = fields.Dict(keys=fields.String(), metadata={"description": "field → list of reasons"})


class ErrorEnvelopeSchema(Schema):
    """``{"success": false, "error": {...}}``, the shape of every error answer."""

    success = fields.Boolean(metadata={"example": False})
    error = fields.Nested(ErrorDetailSchema)


class ServiceApi(Api):
    """flask-smorest ``Api`` documenting the service's error envelope for every operation."""

    ERROR_SCHEMA = ErrorEnvelopeSchema


class ApiBlueprint(Blueprint):
    """flask-smorest ``Blueprint`` whose request validation fails with 400 (documented so)."""

    ARGUMENTS_PARSER = FlaskParser()
    ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "Repeating a request with the same key returns the job it created; the same key "
                   "with a different request is a 409.",
}
LOCATION_HEADER = {"Location": {"description": "URL of the job's status", "schema": {"type": "string"}}}
