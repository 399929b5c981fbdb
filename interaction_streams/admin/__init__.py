"""Operations against a Kafka cluster: applying the topic contract."""
