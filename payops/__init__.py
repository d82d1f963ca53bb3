"""Settings, warehouse connection and schema migrations shared by every payops entry point."""
