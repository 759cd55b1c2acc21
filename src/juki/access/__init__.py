"""Access control (SEC-1, SEC-2, SEC-8, SEC-9, PRF-11): who may log in, from where, and do what.

* :mod:`.roles` -- permissions and roles as data; separation of duties.
* :mod:`.model` -- :class:`Principal`, :class:`Requester`, :class:`SupportMeasure`, :class:`Grant`.
* :mod:`.policy` -- pure decisions: ``can``/``require``, 個人番号 visibility, DV 支援措置 screening.
* :mod:`.auth` -- :class:`AuthService`: accounts (argon2id + TOTP), terminals, login, sessions.
* :mod:`.rights` -- rights requested → approved by a business owner → revoked; roster; export.
* :mod:`.support` -- storage of 支援措置.
* :mod:`.tables` -- the tables (migration ``0003_access``, branch ``access``).
"""

from .model import Grant, Principal, Requester, SupportMeasure

__all__ = ["Grant", "Principal", "Requester", "SupportMeasure"]
