package orders

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// Orders are written as JSON by hand: a page of them is the API's largest
// answer, and encoding/json's reflection over it cost a tenth of the page's
// CPU. TestOrderJSON holds the output to what encoding/json writes for the
// same order, byte for byte, and apptest validates every answer against
// the OpenAPI document.

// appendOrder appends o as the JSON object the API answers with.
func appendOrder(b []byte, o Order) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, o.ID)
	b = append(b, `,"status":`...)
	b = appendString(b, string(o.Status))
	b = append(b, `,"currency":`...)
	b = appendString(b, o.Currency)
	b = append(b, `,"total_amount":`...)
	b = strconv.AppendInt(b, o.TotalAmount, 10)
	b = append(b, `,"items":[`...)
	for i, it := range o.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sku":`...)
		b = appendString(b, it.SKU)
		b = append(b, `,"name":`...)
		b = appendString(b, it.Name)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, it.Quantity, 10)
		b = append(b, `,"unit_amount":`...)
		b = strconv.AppendInt(b, it.UnitAmount, 10)
		b = append(b, `,"amount":`...)
		b = strconv.AppendInt(b, it.Amount, 10)
		b = append(b, '}')
	}
	b = append(b, `],"created_at":`...)
	b = appendTime(b, &o.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, &o.UpdatedAt)
	b = append(b, `,"paid_at":`...)
	b = appendTime(b, o.PaidAt)
	b = append(b, `,"fulfilled_at":`...)
	b = appendTime(b, o.FulfilledAt)
	b = append(b, `,"cancelled_at":`...)
	b = appendTime(b, o.CancelledAt)
	return append(b, '}')
}

// appendList appends a page of orders as the API's list object.
func appendList(b []byte, list httpx.List[Order]) []byte {
	b = slices.Grow(b, 768*len(list.Data))
	b = append(b, `{"data":[`...)
	for i, o := range list.Data {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOrder(b, o)
	}
	b = append(b, `],"next_cursor":`...)
	if list.NextCursor == nil {
		return append(b, "null}"...)
	}
	b = appendString(b, *list.NextCursor)
	return append(b, '}')
}

// appendTime appends t as encoding/json writes a time.Time (RFC 3339 with
// nanoseconds), or null if t is nil.
func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString appends s as a JSON string. Strings that need no escaping
// (IDs, SKUs, most names) are copied; any other goes through encoding/json,
// so that its escaping (of <, >, &, U+2028, invalid UTF-8) is the one every
// other answer has.
func appendString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
