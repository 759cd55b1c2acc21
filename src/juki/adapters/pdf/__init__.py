"""Certificates as PDF: render (:mod:`.render`), sign and issue (:mod:`.signing`), verify (:mod:`.verify`)."""
