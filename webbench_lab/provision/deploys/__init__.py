"""pyinfra deploys: small functions of operations, one per component, like the Ansible roles."""
