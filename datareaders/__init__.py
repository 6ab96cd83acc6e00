"""Data readers for MiniFramework."""
