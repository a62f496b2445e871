package cost

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// PartialPrice overrides some of a model's prices; nil fields keep the
// table's.
type PartialPrice struct {
	Input       *float64 `json:"input,omitempty"`
	CachedInput *float64 `json:"cached_input,omitempty"`
	Output      *float64 `json:"output,omitempty"`
	Reasoning   *float64 `json:"reasoning,omitempty"`
	Audio       *float64 `json:"audio,omitempty"`
	ImageCall   *float64 `json:"image_call,omitempty"`
	AudioCall   *float64 `json:"audio_call,omitempty"`
}

func (o PartialPrice) apply(p Price) Price {
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Input, o.Input)
	set(&p.CachedInput, o.CachedInput)
	set(&p.Output, o.Output)
	set(&p.Reasoning, o.Reasoning)
	set(&p.Audio, o.Audio)
	set(&p.ImageCall, o.ImageCall)
	set(&p.AudioCall, o.AudioCall)
	return p
}

// Override is one config price override: for a model (every deployment
// serving it) or for one deployment, which wins.
type Override struct {
	Model      string       `json:"model,omitempty"`
	Deployment string       `json:"deployment,omitempty"`
	Price      PartialPrice `json:"price"`
}

// Options build a Pricer.
type Options struct {
	// Table is the base price list; nil means Builtin.
	Table *Table
	// Currency of the prices; empty means the table's. A currency other
	// than the table's drops the table: only Overrides price calls.
	Currency string
	// Overrides apply in order over the table.
	Overrides []Override
	// Provisioned lists the deployments billed as provisioned throughput:
	// their calls cost 0 at the margin.
	Provisioned []string
	// Deployments maps each deployment to its model.
	Deployments map[string]string
}

// Rate is how one deployment's calls are priced.
type Rate struct {
	Price       Price
	Provisioned bool
	// Known is false when neither the table nor config prices the model:
	// its calls are logged with cost 0 and no price version.
	Known bool
}

// Pricer prices calls per deployment. It is immutable once built.
type Pricer struct {
	version  string
	currency string
	source   string
	rates    map[string]Rate
}

// NewPricer resolves every deployment's rate.
func NewPricer(o Options) (*Pricer, error) {
	t := o.Table
	if t == nil {
		var err error
		if t, err = Builtin(); err != nil {
			return nil, err
		}
	}
	p := &Pricer{version: t.Version, currency: t.Currency, source: t.Source, rates: map[string]Rate{}}
	useTable := true
	if o.Currency != "" && !strings.EqualFold(o.Currency, t.Currency) {
		useTable = false
		p.currency, p.version, p.source = strings.ToUpper(o.Currency), "config", "config"
	}
	if len(o.Overrides) > 0 {
		b, err := json.Marshal(o.Overrides)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		p.version += "+cfg." + hex.EncodeToString(sum[:4])
	}
	var errs []error
	for _, ov := range o.Overrides {
		if (ov.Model == "") == (ov.Deployment == "") {
			errs = append(errs, errors.New("cost override: set one of model and deployment"))
		}
		if ov.Deployment != "" {
			if _, ok := o.Deployments[ov.Deployment]; !ok {
				errs = append(errs, fmt.Errorf("cost override: unknown deployment %q", ov.Deployment))
			}
		}
	}
	prov := map[string]bool{}
	for _, d := range o.Provisioned {
		if _, ok := o.Deployments[d]; !ok {
			errs = append(errs, fmt.Errorf("cost: provisioned deployment %q is not configured", d))
		}
		prov[d] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A model override applies to the models that the table's lookup
	// would resolve to its name: gpt-4o covers gpt-4o-2024-11-20 but not
	// gpt-4o-mini, which the table names itself.
	names := map[string]bool{}
	for m := range t.Models {
		names[m] = true
	}
	for _, ov := range o.Overrides {
		if ov.Model != "" {
			names[strings.ToLower(ov.Model)] = true
		}
	}
	for dep, model := range o.Deployments {
		var r Rate
		if useTable {
			r.Price, r.Known = t.Lookup(model)
		}
		name := resolve(names, model)
		for _, ov := range o.Overrides { // model overrides first, then the deployment's
			if ov.Model != "" && strings.EqualFold(ov.Model, name) {
				r.Price, r.Known = ov.Price.apply(r.Price), true
			}
		}
		for _, ov := range o.Overrides {
			if ov.Deployment == dep {
				r.Price, r.Known = ov.Price.apply(r.Price), true
			}
		}
		if err := r.Price.validate(); err != nil {
			return nil, fmt.Errorf("cost: deployment %s: %w", dep, err)
		}
		r.Provisioned = prov[dep]
		p.rates[dep] = r
	}
	return p, nil
}

// Version names the prices in effect: the table's version, with
// "+cfg.<hash of the overrides>" when config overrides it.
func (p *Pricer) Version() string { return p.version }

// Currency is the prices' currency (ISO 4217).
func (p *Pricer) Currency() string { return p.currency }

// Source says where the table's prices come from.
func (p *Pricer) Source() string { return p.source }

// Rate returns deployment's rate.
func (p *Pricer) Rate(deployment string) Rate { return p.rates[deployment] }

// Cost prices one call; ok is false when the deployment's model has no
// price (the call is logged unpriced). Provisioned calls cost 0.
func (p *Pricer) Cost(deployment string, u Usage, kind CallKind) (c float64, ok bool) {
	r, found := p.rates[deployment]
	if !found || !r.Known {
		return 0, false
	}
	if r.Provisioned {
		return 0, true
	}
	return r.Price.Cost(u, kind), true
}

// Ceiling is the most a call can cost: see Price.Ceiling. It is 0 for
// provisioned and unpriced deployments.
func (p *Pricer) Ceiling(deployment string, prompt, output int, kind CallKind) float64 {
	r := p.rates[deployment]
	if !r.Known || r.Provisioned {
		return 0
	}
	return r.Price.Ceiling(prompt, output, kind)
}

// resolve returns the name among names that model takes its prices from:
// itself, else the longest name it extends with "-"; "" if none.
func resolve(names map[string]bool, model string) string {
	model = strings.ToLower(model)
	if names[model] {
		return model
	}
	best := ""
	for n := range names {
		if strings.HasPrefix(model, n+"-") && len(n) > len(best) {
			best = n
		}
	}
	return best
}
