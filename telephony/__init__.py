"""Phone calls through Twilio: webhooks, TwiML, Media Streams, REST, and a Twilio simulator."""
