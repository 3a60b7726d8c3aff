"""The ground floor: settings, the database engine, the Redis connection, logging, phone numbers."""
