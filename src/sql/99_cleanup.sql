-- Install-time helpers are not part of the extension's interface.
DROP FUNCTION customer_segment.install_aggregate(text, text[], text, text, text, text, text, text, text, text, text);
DROP FUNCTION customer_segment.install_state_type(text, text);
