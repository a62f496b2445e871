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
	// Files and batches. Collection calls have the action "-" here (no ID).
	{"files", "POST", "-", Operation{Name: "files", Suffix: "files", ID: "Files_Upload",
		DataAction: dataActionPrefix + "files/write", Multipart: true}},
	{"files", "GET", "", Operation{Name: "files", Suffix: "files/{file_id}", ID: "Files_Get",
		DataAction: dataActionPrefix + "files/read"}},
	{"files", "DELETE", "", Operation{Name: "files", Suffix: "files/{file_id}", ID: "Files_Delete",
		DataAction: dataActionPrefix + "files/delete"}},
	{"files", "GET", "content", Operation{Name: "files", Suffix: "files/{file_id}/content", ID: "Files_GetContent",
		DataAction: dataActionPrefix + "files/read"}},
	{"files", "GET", "-", Operation{Name: "files", Suffix: "files", ID: "Files_List",
		DataAction: dataActionPrefix + "files/read"}},
	{"batches", "GET", "-", Operation{Name: "batches", Suffix: "batches", ID: "Batch_List",
		DataAction: dataActionPrefix + "batches/read"}},
	{"batches", "POST", "-", Operation{Name: "batches", Suffix: "batches", ID: "Batch_Create",
		DataAction: dataActionPrefix + "batches/write"}},
	{"batches", "GET", "", Operation{Name: "batches", Suffix: "batches/{batch_id}", ID: "Batch_Get",
		DataAction: dataActionPrefix + "batches/read"}},
	{"batches", "POST", "cancel", Operation{Name: "batches", Suffix: "batches/{batch_id}/cancel", ID: "Batch_Cancel",
		DataAction: dataActionPrefix + "batches/write"}},
}

// CollectionOperation finds the operation on a whole collection: POST
// creates an object ("files" upload, "batches" create), GET lists them.
func CollectionOperation(collection, method string) (Operation, bool) {
	return ObjectOperation(collection, method, "-")
}

// ObjectOperation finds the operation for a call on one stored object:
// collection is "responses", action the path after the object's ID.
func ObjectOperation(collection, method, action string) (Operation, bool) {
	for _, o := range objectOperations {
		if o.collection == collection && o.method == method && o.action == action {
			op := o.op
			op.Method, op.ResourceScoped = method, true // /openai/{suffix} on the dated surface
			return op, true
		}
	}
	return Operation{}, false
}
