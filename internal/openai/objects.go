package openai

// objectOperations are the calls on one stored object, by collection,
// method and action (the path segment after the ID, "" for none). Their
// Name is the collection's operation name, so a key scoped to "responses"
// may also retrieve, delete and cancel responses.
var objectOperations = []struct {
	collection, method, action string
	op                         Operation
}{
	{"responses", "GET", "", Operation{Name: "responses", Suffix: "responses/{response_id}", ID: "Responses_Get",
		DataAction: dataActionPrefix + "responses/read"}},
	{"responses", "DELETE", "", Operation{Name: "responses", Suffix: "responses/{response_id}", ID: "Responses_Delete",
		DataAction: dataActionPrefix + "responses/delete"}},
	{"responses", "POST", "cancel", Operation{Name: "responses", Suffix: "responses/{response_id}/cancel", ID: "Responses_Cancel",
		DataAction: dataActionPrefix + "responses/write"}},
	{"responses", "GET", "input_items", Operation{Name: "responses", Suffix: "responses/{response_id}/input_items", ID: "Responses_ListInputItems",
		DataAction: dataActionPrefix + "responses/read"}},
}

// ObjectOperation finds the operation for a call on one stored object:
// collection is "responses", action the path after the object's ID.
func ObjectOperation(collection, method, action string) (Operation, bool) {
	for _, o := range objectOperations {
		if o.collection == collection && o.method == method && o.action == action {
			return o.op, true
		}
	}
	return Operation{}, false
}
