"""The end-to-end pipeline's stages as plain functions; flows/ runs them under Prefect."""
