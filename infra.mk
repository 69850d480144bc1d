# infra.mk: infrastructure, linters of infra and workflows, deploy.
# The Makefile includes it (after its own variables); `make -f infra.mk X`
# works on its own too.
#
#   make infra-lint          cfn-lint, checkov and zizmor (own virtualenv)
#   make deploy STAGE=dev    C scanner + stack + outputs + CA + chalice deploy + smoke test
#   make migrate STAGE=dev   the database migrations and logins (the stage's migrate function)
#   make policies            re-render the committed .chalice/policy-*.json
#   make rds-ca              fetch the RDS CA bundle into chalicelib/certs/

PYTHON ?= python3
VENV ?= .venv
BIN ?= $(VENV)/bin
STAMP ?= $(VENV)/.installed
STAGE ?= dev
DEPLOY_ARGS ?=

# checkov pins an old boto3 that clashes with requirements.txt, so the three
# linters live in a virtualenv of their own.
INFRA_VENV ?= .venv-infra
INFRA_BIN := $(INFRA_VENV)/bin
INFRA_STAMP := $(INFRA_VENV)/.installed
INFRA_TEMPLATES := $(wildcard infra/*.yaml)
WORKFLOWS := .github/workflows

.PHONY: infra-lint deploy migrate policies rds-ca

$(INFRA_STAMP): requirements-infra.txt
	test -x $(INFRA_BIN)/python || $(PYTHON) -m venv $(INFRA_VENV)
	@# a .gitignore inside keeps git and ruff out of the virtualenv
	printf '*\n' > $(INFRA_VENV)/.gitignore
	$(INFRA_BIN)/pip install --quiet --upgrade pip
	$(INFRA_BIN)/pip install --quiet -r requirements-infra.txt
	touch $(INFRA_STAMP)

## make infra-lint: the template and the workflows, no network needed
infra-lint: $(INFRA_STAMP)
	$(INFRA_BIN)/cfn-lint --include-checks I -- $(INFRA_TEMPLATES)
	$(INFRA_BIN)/checkov --quiet --compact --skip-download --framework cloudformation -d infra
	$(INFRA_BIN)/zizmor --offline --no-progress --persona auditor $(WORKFLOWS)

## make deploy STAGE=dev|prod: see docs/deploy.md
deploy: $(STAMP)
	$(BIN)/python scripts/deploy.py --stage $(STAGE) $(DEPLOY_ARGS)

## make migrate STAGE=dev|prod: invoke the stage's migrate function (docs/deploy.md)
migrate: $(STAMP)
	$(BIN)/python -m ops migrate --stage $(STAGE)

## make policies: .chalice/policy-<stage>.json from the template and infra/sample-outputs
policies: $(STAMP)
	for stage in dev prod; do \
	  $(BIN)/python scripts/record_outputs.py --stage $$stage --policy-only \
	    --outputs-file infra/sample-outputs/$$stage.json || exit 1; \
	done

rds-ca:
	scripts/fetch-rds-ca
