"""marshmallow schemas: what the tiny service accepts and answers."""

from marshmallow import Schema, fields, validate

from common.api import PageQuerySchema


class WidgetSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String()


class WidgetCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class WidgetQuerySchema(PageQuerySchema):
    name = fields.String()


class PartSchema(Schema):
    id = fields.UUID(dump_only=True)
    widget_id = fields.UUID()
    name = fields.String()


class PartCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class OrphanPartCreateSchema(PartCreateSchema):
    widget_id = fields.UUID(required=True)


class NameSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
