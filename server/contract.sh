# shellcheck shell=bash disable=SC2034
# Generated from components/contract.py by `python -m components.contract`; a lint test keeps it equal.
BOTSTACK_STACK_LABEL=botstack.stack
BOTSTACK_SERVICE_LABEL=botstack.service
BOTSTACK_WRITER_LABEL=botstack.writer
BOTSTACK_ETC_DIR=/etc/botstack
BOTSTACK_SECRETS_DIR=/etc/botstack/secrets
BOTSTACK_BACKUP_CONFIG_FILE=/etc/botstack/backup.env
BOTSTACK_PROVISION_CONFIG_FILE=/etc/botstack/provision.env
BOTSTACK_BACKUP_DIR=/var/backups/botstack
BOTSTACK_INSTALLED_SCRIPTS_DIR=/usr/local/lib/botstack
BOTSTACK_VDS_STACKS=prod
