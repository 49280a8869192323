"""One module per guide page: each computes that page's figures and numbers from the package."""
