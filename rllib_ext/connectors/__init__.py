"""Connector pieces (RLlib ``ConnectorV2``) that any pipeline can use."""
