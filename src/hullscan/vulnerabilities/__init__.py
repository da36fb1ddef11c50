"""The vulnerability domain: states, transitions, dismissal reasons, history, queries, export."""
