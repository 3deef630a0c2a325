from mailprobe.cli.app import main

main()
