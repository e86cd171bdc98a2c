"""A Python file that is not a LiveKit agent."""

print("hello")
