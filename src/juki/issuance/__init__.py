"""Certificate issuance (交付), コンビニ交付 and 印鑑登録 (REG-CERT, REG-LINK5, SEC-3, SEC-8).

* :mod:`.tables` -- the issuance log, cards, kiosks and seals (migration branch ``certificates``);
* :mod:`.service` -- counter and bulk issuance: path checks (:mod:`juki.domain.certificate_requests`),
  DV screening, the document, the signed PDF, the log row and the audit entry in one transaction;
* :mod:`.cards` and :mod:`.kiosk` -- a resident's card (key pair + PIN) and the kiosk transaction;
* :mod:`.seals` -- 印鑑登録: registration, confirmation by 照会書, abolition, 印鑑登録証明書.
"""
