package novamed

import (
	"math"
	"slices"
	"strings"
)

// Carrier is a shipping carrier of the catalogue (operator data, not code).
type Carrier struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	Tracking string           `json:"tracking_url_template,omitempty"` // {tracking} is replaced by the number
	Services []CarrierService `json:"services"`
}

// CarrierService is one service of a carrier with its price rules.
type CarrierService struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name"`
	Speed                string   `json:"delivery_speed"` // next-day or business-day
	BaseCostCents        int      `json:"base_cost_cents"`
	RemoteSurchargeCents int      `json:"remote_surcharge_cents"` // added for Alaska, Hawaii and the territories
	UnavailableStates    []string `json:"unavailable_states,omitempty"`
}

// RemoteStates pay the remote surcharge.
var RemoteStates = []string{"AK", "HI", "PR", "GU", "VI", "AS", "MP"}

// ShippingQuote is a priced service for one destination.
type ShippingQuote struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	TotalCost    float64 `json:"totalCost"`
	OriginalCost float64 `json:"originalCost"`
}

// Quote prices the service for a destination state; ok is false when the
// service does not deliver there.
func (s CarrierService) Quote(state string, freeShipping bool) (ShippingQuote, bool) {
	state = strings.ToUpper(state)
	if _, known := StateName(state); !known || slices.Contains(s.UnavailableStates, state) {
		return ShippingQuote{}, false
	}
	cents := s.BaseCostCents
	if slices.Contains(RemoteStates, state) {
		cents += s.RemoteSurchargeCents
	}
	q := ShippingQuote{ID: s.ID, Name: s.Name, OriginalCost: dollars(cents), TotalCost: dollars(cents)}
	if freeShipping {
		q.TotalCost = 0
	}
	return q, true
}

func dollars(cents int) float64 { return math.Round(float64(cents)) / 100 }

// Service returns the carrier's service with that id.
func (c *Carrier) Service(id string) (CarrierService, bool) {
	for _, s := range c.Services {
		if s.ID == id {
			return s, true
		}
	}
	return CarrierService{}, false
}

// ValidateCatalogue checks an operator-supplied catalogue.
func ValidateCatalogue(cs []Carrier) error {
	if len(cs) == 0 {
		return Errorf(CodeInvalid, "The catalogue needs at least one carrier.")
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if c.ID == "" || c.Name == "" || seen[c.ID] {
			return Errorf(CodeInvalid, "Every carrier needs a unique id and a name.")
		}
		seen[c.ID] = true
		ids := map[string]bool{}
		for _, s := range c.Services {
			if s.ID == "" || s.Name == "" || ids[s.ID] || !slices.Contains(DeliverySpeeds, s.Speed) || s.BaseCostCents < 0 || s.RemoteSurchargeCents < 0 {
				return Errorf(CodeInvalid, "Carrier %s: every service needs a unique id, a name, a delivery_speed of next-day or business-day and non-negative costs.", c.ID)
			}
			ids[s.ID] = true
			for _, st := range s.UnavailableStates {
				if _, ok := StateName(st); !ok {
					return Errorf(CodeInvalid, "Carrier %s service %s: unknown state %q.", c.ID, s.ID, st)
				}
			}
		}
	}
	return nil
}

// DefaultCatalogue is the published NovaMed carrier catalogue (contract §8,
// "Carrier services by id"), the data a fresh database starts with: the
// prices are the published mainland ones; Alaska, Hawaii and the
// territories pay the remote surcharge or are not served.
func DefaultCatalogue() []Carrier {
	farAway := []string{"AK", "HI", "PR", "GU", "VI", "AS", "MP"}
	territories := []string{"GU", "VI", "AS", "MP"}
	return []Carrier{
		{ID: "ameriship", Name: "Ameriship", Tracking: "https://tracking.ameriship.example/{tracking}", Services: []CarrierService{
			{ID: "ameriship_ground", Name: "Ameriship Ground", Speed: "business-day", BaseCostCents: 999, RemoteSurchargeCents: 1500, UnavailableStates: territories},
			{ID: "ameriship_overnight", Name: "Ameriship Overnight", Speed: "next-day", BaseCostCents: 2999, UnavailableStates: farAway},
		}},
		{ID: "se-3818360", Name: "FedEx", Tracking: "https://www.fedex.com/fedextrack/?trknbr={tracking}", Services: []CarrierService{
			{ID: "fedex_ground", Name: "FedEx Ground®", Speed: "business-day", BaseCostCents: 3244, RemoteSurchargeCents: 2000, UnavailableStates: territories},
			{ID: "fedex_2day", Name: "FedEx 2Day®", Speed: "business-day", BaseCostCents: 5643, RemoteSurchargeCents: 2500, UnavailableStates: territories},
			{ID: "fedex_priority_overnight", Name: "FedEx Priority Overnight®", Speed: "next-day", BaseCostCents: 11810, RemoteSurchargeCents: 4000, UnavailableStates: territories},
		}},
		{ID: "se-11225", Name: "Stamps.com", Tracking: "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking}", Services: []CarrierService{
			{ID: "usps_first_class", Name: "USPS First-Class Mail®", Speed: "business-day", BaseCostCents: 549, RemoteSurchargeCents: 300},
			{ID: "usps_priority", Name: "USPS Priority Mail®", Speed: "business-day", BaseCostCents: 985, RemoteSurchargeCents: 500},
			{ID: "usps_priority_express", Name: "USPS Priority Mail Express®", Speed: "next-day", BaseCostCents: 3140, RemoteSurchargeCents: 1000},
		}},
		{ID: "se-11226", Name: "UPS", Tracking: "https://www.ups.com/track?tracknum={tracking}", Services: []CarrierService{
			{ID: "ups_ground", Name: "UPS® Ground", Speed: "business-day", BaseCostCents: 1420, RemoteSurchargeCents: 2000, UnavailableStates: territories},
			{ID: "ups_2nd_day_air", Name: "UPS 2nd Day Air®", Speed: "business-day", BaseCostCents: 4275, RemoteSurchargeCents: 2500, UnavailableStates: territories},
			{ID: "ups_next_day_air", Name: "UPS Next Day Air®", Speed: "next-day", BaseCostCents: 7830, RemoteSurchargeCents: 3000, UnavailableStates: farAway},
		}},
	}
}

// TrackingURL fills the carrier's tracking template.
func (c *Carrier) TrackingURL(number string) string {
	if c.Tracking == "" {
		return ""
	}
	return strings.ReplaceAll(c.Tracking, "{tracking}", number)
}
