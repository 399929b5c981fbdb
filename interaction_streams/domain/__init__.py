"""The functional core: pure steps over immutable models. No Faust, Kafka, I/O or wall clock."""
