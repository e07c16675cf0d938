"""Where exported messages go: the SQL read model and the brokers (Kafka, RabbitMQ, Redis)."""
