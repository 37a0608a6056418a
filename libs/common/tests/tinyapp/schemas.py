"""marshmallow schemas: what the tiny service accepts and answers."""

from marshmallow import Schema, fields, validate

from common.api import PageQuerySchema


class WidgetSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String()


class WidgetCreateSchema(Schema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=100), metadata={"example": "sprocket"}
    )


class WidgetQuerySchema(PageQuerySchema):
    name = fields.String(metadata={"example": "sprocket"})


class PartSchema(Schema):
    id = fields.UUID(dump_only=True)
    widget_id = fields.UUID()
    name = fields.String()


class PartCreateSchema(Schema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=100), metadata={"example": "cog"}
    )


class OrphanPartCreateSchema(PartCreateSchema):
    widget_id = fields.UUID(
        required=True, metadata={"example": "0b7e5d3c-3f0e-4c55-a1a4-5f1c0e9a2d11"}
    )


class NameSchema(Schema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=100), metadata={"example": "gear"}
    )
