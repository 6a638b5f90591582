"""Small physics models shipped with gpuad: the demo's workload, and a reference
for users writing their own."""
