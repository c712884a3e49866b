"""The app's extensions: the only module-level state the app has."""

from flask import current_app
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import csrf as flask_wtf_csrf
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import MetaData

# Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Flask-WTF's serializer salt: a token is its session value signed under this salt.
CSRF_SALT = "wtf-csrf-token"


class CSRFProtect(flask_wtf_csrf.CSRFProtect):
    """Flask-WTF's CSRF protection that also takes tokens signed with a key in
    SECRET_KEY_FALLBACKS, as Flask does for the session cookie: a form opened before a
    key rotation still posts until the operator retires the previous key."""

    def _get_csrf_token(self):
        token = super()._get_csrf_token()
        if not token or current_app.config.get("WTF_CSRF_SECRET_KEY"):
            return token
        limit = current_app.config["WTF_CSRF_TIME_LIMIT"]
        current = URLSafeTimedSerializer(current_app.secret_key, salt=CSRF_SALT)
        try:
            current.loads(token, max_age=limit)
            return token
        except BadData:
            pass
        for key in current_app.config.get("SECRET_KEY_FALLBACKS") or []:
            try:
                value = URLSafeTimedSerializer(key, salt=CSRF_SALT).loads(token, max_age=limit)
            except BadData:
                continue
            # Valid and in date under a previous key: the same token under the current
            # one. Flask-WTF then checks it against the session as it always does.
            return current.dumps(value)
        return token


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
csrf = CSRFProtect()
