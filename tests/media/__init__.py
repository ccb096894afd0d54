"""Tests of switchboard.media."""
