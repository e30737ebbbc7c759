package job

import (
	"fmt"

	"signsgd/data"
	"signsgd/job/nn"
)

// datasetModels says which models make sense on which dataset.
var datasetModels = map[string][]string{
	"logreg":             {"mlp"},
	"linreg":             {"mlp"},
	"mnist":              {"mlp", "cnn", "mnistnet"},
	"imagenet":           {"resnet18", "resnet50"},
	"imagenet-synthetic": {"resnet18", "resnet50"},
}

// loadData opens the configured dataset's training and test sets.
func loadData(cfg *Config) (train, test data.Source, err error) {
	switch cfg.Dataset {
	case "logreg", "linreg":
		tr, te, err := data.SyntheticN(data.Kind(cfg.Dataset), cfg.Seed, cfg.Samples)
		return tr, te, err
	case "mnist":
		dir := cfg.DataDir
		if dir == "" {
			if dir, err = data.DefaultMNISTDir(); err != nil {
				return nil, nil, err
			}
		}
		tr, te, err := data.LoadMNIST(dir)
		return tr, te, err
	case "imagenet":
		if cfg.DataDir == "" {
			return nil, nil, badFlag("--dataset imagenet needs --data-dir (a folder with train/<class>/*.JPEG and val/<class>/*.JPEG)")
		}
		opt := data.ImageOptions{Seed: cfg.Seed, Workers: cfg.loaderThreads}
		tr, err := data.OpenImageFolder(cfg.DataDir, true, opt)
		if err != nil {
			return nil, nil, err
		}
		te, err := data.OpenImageFolder(cfg.DataDir, false, opt)
		if err != nil {
			return nil, nil, err
		}
		return tr, te, nil
	case "imagenet-synthetic":
		return data.SyntheticImages(cfg.SyntheticSamples, 1000, 3, 224, 224, cfg.Seed),
			data.SyntheticImages(max(cfg.SyntheticSamples/10, 1), 1000, 3, 224, 224, cfg.Seed+1), nil
	}
	return nil, nil, fmt.Errorf("--dataset: unknown dataset %q", cfg.Dataset)
}

// newModel builds the configured network for the training set's shape.
func newModel(cfg *Config, train data.Source) (*nn.Net, error) {
	return nn.Build(cfg.Model, train.Shape(), train.NumClasses(), cfg.Hidden, cfg.Seed)
}
