# GAN reversal image compression: `make report` runs the notebooks in order with papermill,
# `make test` runs the tests. Both create .venv and install the pinned dependencies first.
# Every stage is a real file target: an up-to-date stage does not re-run.
# The default profile loads its trained models from models/; `make report PROFILE=full && make models PROFILE=full`
# trains them in the chain and ships them there.

# params/$(PROFILE).yaml; runs/ and reports/ go below $(WORKDIR); $(PYTHON) creates .venv
PROFILE ?= default
WORKDIR ?= $(CURDIR)
PYTHON ?= python3

VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN := $(WORKDIR)/runs/$(PROFILE)
REP := $(WORKDIR)/reports/$(PROFILE)
PARAMS := params/$(PROFILE).yaml
export GANLIB_WORKDIR := $(WORKDIR)
PAPERMILL = mkdir -p $(REP) && $(VENV)/bin/papermill --log-output --no-progress-bar --kernel ganlib
stage = -f $(RUN)/params/$(1).yaml

.PHONY: help report data train encoder classifier invert tradeoff baselines residual realism results models bench study learned heldout lint test test-fast lab venv clean clean-run
.DELETE_ON_ERROR:

help: ## list the targets
	@echo "make <target> [PROFILE=default|full|smoke] [WORKDIR=dir]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

report: $(REP)/report.html ## run every stage that is out of date and render reports/$(PROFILE)/report.html

venv: $(INSTALLED) ## create .venv and install the pinned dependencies and the ganlib kernel

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	$(PY) -m ipykernel install --sys-prefix --name ganlib --display-name "Python (ganlib)" >/dev/null
	touch $@

# 03 runs (as ganlib.core.paths.INVERSIONS): the seed's search with the split's own loss, then the other loss as a
# control, on the first 64 images; the command line's hybrid and encoder-only modes on every evaluation image
INVERSIONS := seen unseen seen_ssim unseen_mse seen_hybrid unseen_hybrid seen_encoder unseen_encoder
INVERTED := $(INVERSIONS:%=$(RUN)/invert_%.csv)

# one YAML per stage, rewritten only when its section of the profile changes
STAGE_PARAMS := $(foreach s,data train encoder classifier $(INVERSIONS:%=invert_%) tradeoff baselines residual realism results,$(RUN)/params/$(s).yaml)
$(STAGE_PARAMS): $(RUN)/params/%.yaml: $(PARAMS) $(wildcard params/*.yaml) | $(INSTALLED)
	$(PY) -m ganlib.pipeline $(PROFILE) $* -o $@

data: $(RUN)/data.npz ## 01: prepare the data set and the seen/unseen split
$(RUN)/data.npz: notebooks/01_data.ipynb $(RUN)/params/data.yaml
	$(PAPERMILL) $< $(REP)/01_data.ipynb $(call stage,data)

train: $(RUN)/generator.safetensors ## 02: train the GAN (the default profile loads models/: trained_from)
$(RUN)/generator.safetensors: notebooks/02_train_gan.ipynb $(RUN)/params/train.yaml $(RUN)/data.npz
	$(PAPERMILL) $< $(REP)/02_train_gan.ipynb $(call stage,train)

encoder: $(RUN)/encoder.safetensors ## 02b: train the encoder that starts the fast (hybrid) search
$(RUN)/encoder.safetensors: notebooks/02b_train_encoder.ipynb $(RUN)/params/encoder.yaml $(RUN)/generator.safetensors
	$(PAPERMILL) $< $(REP)/02b_train_encoder.ipynb $(call stage,encoder)

classifier: $(RUN)/classifier.json ## 02c: train the classifier whose classes and features the realism study uses
$(RUN)/classifier.json: notebooks/02c_train_classifier.ipynb $(RUN)/params/classifier.yaml $(RUN)/data.npz
	$(PAPERMILL) $< $(REP)/02c_train_classifier.ipynb $(call stage,classifier)

invert: $(INVERTED) ## 03: compress seen and unseen images by latent search
$(RUN)/invert_%.csv: notebooks/03_invert.ipynb $(RUN)/params/invert_%.yaml $(RUN)/generator.safetensors $(RUN)/encoder.safetensors
	$(PAPERMILL) $< $(REP)/03_invert_$*.ipynb $(call stage,invert_$*) -p name $*

tradeoff: $(RUN)/tradeoff.csv ## 03b: quality against encode time of the encoder, hybrid and search modes
$(RUN)/tradeoff.csv: notebooks/03b_tradeoff.ipynb $(RUN)/params/tradeoff.yaml $(RUN)/encoder.safetensors
	$(PAPERMILL) $< $(REP)/03b_tradeoff.ipynb $(call stage,tradeoff)

baselines: $(RUN)/baselines.csv ## 04: classical and learned codecs on the same images
$(RUN)/baselines.csv: notebooks/04_baselines.ipynb $(RUN)/params/baselines.yaml $(RUN)/data.npz
	$(PAPERMILL) $< $(REP)/04_baselines.ipynb $(call stage,baselines)

residual: $(RUN)/residual.csv ## 04b: the residual (enhancement) layer on top of GAN reversal's base layer
$(RUN)/residual.csv: notebooks/04b_residual.ipynb $(RUN)/params/residual.yaml $(RUN)/encoder.safetensors
	$(PAPERMILL) $< $(REP)/04b_residual.ipynb $(call stage,residual)

realism: $(RUN)/realism.csv ## 04c: class accuracy, KID and FID of every codec's decoded images
$(RUN)/realism.csv: notebooks/04c_realism.ipynb $(RUN)/params/realism.yaml $(RUN)/classifier.json $(INVERTED) $(RUN)/baselines.csv $(RUN)/residual.csv
	$(PAPERMILL) $< $(REP)/04c_realism.ipynb $(call stage,realism)

results: $(REP)/summary.csv ## 05: summary tables and figures
$(REP)/summary.csv: notebooks/05_results.ipynb $(RUN)/params/results.yaml $(INVERTED) $(RUN)/tradeoff.csv $(RUN)/baselines.csv $(RUN)/residual.csv $(RUN)/realism.csv
	$(PAPERMILL) $< $(REP)/05_results.ipynb $(call stage,results)

$(REP)/report.html: $(REP)/summary.csv
	$(PY) -m ganlib.report $(REP)

models: $(RUN)/encoder.safetensors $(REP)/summary.csv ## ship runs/$(PROFILE)'s models to models/, the CLI's default and what the default profile loads (use PROFILE=full)
	$(PY) -m ganlib.pipeline.ship --profile $(PROFILE)

bench: $(RUN)/encoder.safetensors $(RUN)/baselines.csv $(REP)/summary.csv ## time every codec and GAN mode on this machine: reports/$(PROFILE)/speed.csv
	$(PY) benchmarks/speed.py --profile $(PROFILE)

# The capacity study (issue 9): params/study.yaml (not a profile of the chain) against the default run's codecs
STUDY_CSV := $(WORKDIR)/reports/study/study.csv
DEFAULT_RD := $(WORKDIR)/reports/default/rd.csv
study: $(STUDY_CSV) ## capacity study: a GAN per latent_dim and width against the default run's codecs (~30 min): reports/study/study.csv
$(STUDY_CSV): params/study.yaml $(wildcard $(DEFAULT_RD)) | $(INSTALLED)
	$(PY) -m ganlib.pipeline.study --profile study --baselines $(DEFAULT_RD)

# The learned codecs' convergence study (issue 17): params/learned.yaml, trained on the default run's data; it ships
# models/learned/ and models/learned.json, which the default profile's 04_baselines loads (learned_from: models)
LEARNED_CSV := $(WORKDIR)/reports/learned/convergence.csv
learned: $(LEARNED_CSV) ## learned codecs' convergence study, shipped to models/learned/ (~60 min): reports/learned/
$(LEARNED_CSV): params/learned.yaml | $(INSTALLED)
	$(MAKE) data PROFILE=default
	$(PY) -m ganlib.pipeline.learned_study

# The held-out-class experiment (issue 19): params/heldout.yaml, a GAN and its codec trained without one class
HELDOUT_CSV := $(WORKDIR)/reports/heldout/heldout.csv
heldout: $(HELDOUT_CSV) ## held-out class: the command line's codec on a class its GAN never saw (~25 min): reports/heldout/
$(HELDOUT_CSV): params/heldout.yaml | $(INSTALLED)
	$(PY) -m ganlib.pipeline.heldout

lint: $(INSTALLED) ## check the code with ruff (rules in pyproject.toml)
	$(VENV)/bin/ruff check ganlib tests benchmarks

test: lint ## lint, then the test suite (unit tests and the smoke chain end to end)
	$(PY) -m pytest tests

test-fast: $(INSTALLED) ## run the unit tests only, not those marked slow (under 2 minutes on 2 cores)
	$(PY) -m pytest tests -m "not slow"

lab: $(INSTALLED) ## open JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

clean-run: ## delete runs/$(PROFILE) and reports/$(PROFILE)
	rm -rf $(RUN) $(REP)

clean: ## delete runs/, the fetched data/ and .venv (committed reports stay)
	rm -rf $(WORKDIR)/runs $(WORKDIR)/data $(VENV)
