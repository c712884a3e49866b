"""The name form and its input rules."""

from __future__ import annotations

import unicodedata

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import StopValidation


def strip_surrounding_whitespace(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def first_control_character(value: str) -> tuple[int, str] | None:
    """Position and character of the first control character (Unicode Cc), if any."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) == "Cc":
            return position, char
    return None


def name_rules(_form: FlaskForm, field: StringField) -> None:
    """Not empty, no control characters, at most MAX_NAME_LENGTH characters."""
    value = field.data or ""
    if not value:
        raise StopValidation("Please enter a name: it cannot be empty or only spaces.")
    control = first_control_character(value)
    if control:
        position, char = control
        raise StopValidation(
            f"Names cannot contain control characters "
            f"(found U+{ord(char):04X} at character {position})."
        )
    limit = current_app.config["MAX_NAME_LENGTH"]
    if len(value) > limit:
        raise StopValidation(
            f"Names can be at most {limit} characters long; this one has {len(value)}."
        )


class NameForm(FlaskForm):
    name = StringField("Name", filters=[strip_surrounding_whitespace], validators=[name_rules])
    submit = SubmitField("Submit")
