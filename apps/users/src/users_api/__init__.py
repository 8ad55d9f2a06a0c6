"""users_api: the demo user API that wires Ferry's three layers together."""
