from ipsec_remote.cli.app import main

main()
