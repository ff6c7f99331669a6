"""Helpers the test suite shares: tiny models built in the test, free ports, waiting."""
