package client

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"maps"
	"net/url"
	"strconv"
)

// ListParams selects the items of a list; the zero value lists everything the
// key may see, newest first, 25 per page.
type ListParams struct {
	// Limit is the page size, 1 to 100 (0: the server's default, 25). List
	// iterators fetch further pages as you range, so Limit never bounds the
	// total.
	Limit int
	// Cursor starts after the page that answered with it as next cursor.
	Cursor string
	// ClinicID restricts the list to one of the key's clinics.
	ClinicID string
}

func (p ListParams) values() url.Values {
	q := url.Values{}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	if p.ClinicID != "" {
		q.Set("clinic_id", p.ClinicID)
	}
	return q
}

// Page is one page of a list, newest first.
type Page[T any] struct {
	Items []T
	// NextCursor fetches the following page ("" on the last page).
	NextCursor string
}

// UnmarshalJSON reads {"items":[…],"next_cursor":"…"|null}.
func (p *Page[T]) UnmarshalJSON(b []byte) error {
	var raw struct {
		Items      []T     `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.Items, p.NextCursor = raw.Items, ""
	if raw.NextCursor != nil {
		p.NextCursor = *raw.NextCursor
	}
	return nil
}

// listPage fetches one page of path.
func listPage[T any](ctx context.Context, c *Client, path string, q url.Values, opts []CallOption) (*Page[T], error) {
	var p Page[T]
	if err := c.get(ctx, path, q, &p, opts); err != nil {
		return nil, err
	}
	return &p, nil
}

var errCursorLoop = errors.New("novamed: the server answered the same next_cursor twice")

// paginate ranges over every item from the page at q's cursor onwards. The
// first error is yielded once and ends the iteration.
func paginate[T any](ctx context.Context, c *Client, path string, base url.Values, opts []CallOption) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		q := maps.Clone(base) // each range starts afresh
		cursor := q.Get("cursor")
		for {
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			page, err := listPage[T](ctx, c, path, q, opts)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Items {
				if !yield(&page.Items[i], nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			if page.NextCursor == cursor {
				yield(nil, errCursorLoop)
				return
			}
			cursor = page.NextCursor
		}
	}
}

// Collect gathers every item of a list iterator, stopping at its error.
//
//	patients, err := client.Collect(c.Patients.List(ctx, client.ListParams{}))
func Collect[T any](seq iter.Seq2[*T, error]) ([]*T, error) {
	var out []*T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}
