//! Content replication (packages, CLM documents) as verified iroh blobs. Filled by the content issue.
