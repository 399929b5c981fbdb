"""The wire contract: topics, the CloudEvents envelope, event payloads, codecs."""
