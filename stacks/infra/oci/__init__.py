"""OCI: an OKE cluster in its own VCN; node pools grow for course events (see stacks.infra.clouds for
the modules every cloud package has)."""
