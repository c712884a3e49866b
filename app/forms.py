"""The name form and its input rules."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote_to_bytes

from flask import Request, current_app, request
from flask_wtf import FlaskForm
from werkzeug.utils import cached_property
from wtforms import StringField, SubmitField
from wtforms.validators import StopValidation

# What a person can see: letters, marks on a base, numbers, punctuation, symbols.
# Spaces (Z*), controls and format characters (C*: zero-width, bidi controls) are
# invisible on their own; a combining mark (M*) needs a visible base.
VISIBLE_CATEGORIES = ("L", "N", "P", "S")


class NamesRequest(Request):
    """Keeps a form body's raw bytes, so the app can tell a UTF-8 body from one
    Werkzeug decoded leniently (it keeps undecodable bytes as ``%XX`` text)."""

    def _load_form_data(self) -> None:
        if self.mimetype == "application/x-www-form-urlencoded":
            self.get_data(cache=True)  # form parsing then reads this cached copy
        super()._load_form_data()

    @cached_property
    def form_is_utf8(self) -> bool:
        if self.mimetype != "application/x-www-form-urlencoded":
            return True
        for pair in self.get_data(cache=True).split(b"&"):
            for part in pair.split(b"=", 1):
                try:
                    unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
                except UnicodeDecodeError:
                    return False
        return True


def normalize(value: str | None) -> str | None:
    """NFC, then trimmed: the same name typed two ways is stored one way."""
    if not isinstance(value, str):
        return value
    return unicodedata.normalize("NFC", value).strip()


def first_control_character(value: str) -> tuple[int, str] | None:
    """Position and character of the first control character (Unicode Cc), if any."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) == "Cc":
            return position, char
    return None


def has_visible_character(value: str) -> bool:
    return any(unicodedata.category(char).startswith(VISIBLE_CATEGORIES) for char in value)


def name_rules(_form: FlaskForm, field: StringField) -> None:
    """UTF-8, not empty, visible, no control characters, at most MAX_NAME_LENGTH characters."""
    if not request.form_is_utf8:
        raise StopValidation(
            "The form was not valid UTF-8 text, so the name could not be read. "
            "Please type it again."
        )
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
    if not has_visible_character(value):
        raise StopValidation(
            "Please enter a name with at least one visible character "
            "(a letter, digit, punctuation mark or symbol)."
        )
    limit = current_app.config["MAX_NAME_LENGTH"]
    if len(value) > limit:
        raise StopValidation(
            f"Names can be at most {limit} characters long; this one has {len(value)}."
        )


class NameForm(FlaskForm):
    name = StringField("Name", filters=[normalize], validators=[name_rules])
    submit = SubmitField("Submit")
