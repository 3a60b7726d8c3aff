"""What is stored about a contact: conversations and calls, the consent ledger, the audit trail, FAQs, the clinic."""
