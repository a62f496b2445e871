package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// multipartForm is a parsed multipart/form-data body: its text fields and
// the uploaded file.
type multipartForm struct {
	values   map[string]string
	file     []byte
	fileName string
}

// maxFormField bounds a text field of a multipart body.
const maxFormField = 64 << 10

func parseMultipart(contentType string, body []byte) (*multipartForm, []byte) {
	bad := func(msg string) []byte { return modelError(msg, "invalid_request_error", "", "") }
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, bad("Invalid Content-Type header (expected multipart/form-data).")
	}
	f := &multipartForm{values: map[string]string{}}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return f, nil
		}
		if err != nil {
			return nil, bad("Could not parse multipart form.")
		}
		if part.FileName() != "" || part.FormName() == "file" {
			if f.file, err = io.ReadAll(part); err != nil {
				return nil, bad("Could not parse multipart form.")
			}
			f.fileName = part.FileName()
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFormField))
		if err != nil {
			return nil, bad("Could not parse multipart form.")
		}
		f.values[part.FormName()] = string(v)
	}
}

// imageJob is a planned images/generations answer.
type imageJob struct {
	dep            *deployment
	prompt         string
	n              int
	width, height  int
	responseFormat string
	seed           *hasher
}

// Image sizes each family accepts (dall-e-2, dall-e-3, gpt-image).
var imageSizes = map[string]bool{"256x256": true, "512x512": true, "1024x1024": true,
	"1792x1024": true, "1024x1792": true, "1536x1024": true, "1024x1536": true}

func (s *Server) planImages(dep *deployment, body []byte) (*imageJob, []byte) {
	var req struct {
		Prompt         *string `json:"prompt"`
		N              *int    `json:"n"`
		Size           string  `json:"size"`
		ResponseFormat string  `json:"response_format"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, modelError("Invalid request: "+jsonProblem(err), "invalid_request_error", "", "")
	}
	if req.Prompt == nil || *req.Prompt == "" {
		return nil, modelError("Missing required parameter: 'prompt'.", "invalid_request_error", "prompt", "missing_required_parameter")
	}
	if p, _ := filterTriggers([]byte(*req.Prompt)); p != "" {
		return nil, imageFilteredError()
	}
	job := &imageJob{dep: dep, prompt: *req.Prompt, n: 1, responseFormat: "url"}
	if req.N != nil {
		job.n = *req.N
	}
	maxN := 10
	if strings.HasPrefix(dep.Model, "dall-e-3") {
		maxN = 1
	}
	switch {
	case job.n < 1:
		return nil, belowMin("n", 1, job.n)
	case job.n > maxN:
		return nil, aboveMax("n", maxN, job.n)
	}
	size := req.Size
	if size == "" || size == "auto" {
		size = "1024x1024"
	}
	if !imageSizes[size] {
		return nil, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: '256x256', '512x512', '1024x1024', '1792x1024', '1024x1792', '1536x1024' and '1024x1536'.", size),
			"invalid_request_error", "size", "invalid_value")
	}
	w, h, _ := strings.Cut(size, "x")
	job.width, _ = strconv.Atoi(w)
	job.height, _ = strconv.Atoi(h)
	switch req.ResponseFormat {
	case "", "url":
	case "b64_json":
		job.responseFormat = "b64_json"
	default:
		return nil, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'url' and 'b64_json'.", req.ResponseFormat),
			"invalid_request_error", "response_format", "invalid_value")
	}
	job.seed = newHasher(s.opts.Seed, dep.Model)
	job.seed.str(job.prompt)
	return job, nil
}

// imageFilteredError is Azure's 400 for an image prompt its safety system
// refused (§2.11; the images API spells inner_error with an underscore).
func imageFilteredError() []byte {
	return []byte(`{"error":{"code":"contentFilter","message":"Your task failed as a result of our safety system.","inner_error":{"code":"ResponsibleAIPolicyViolation","content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}}}}`)
}

type imageData struct {
	B64JSON              string         `json:"b64_json,omitempty"`
	ContentFilterResults *choiceFilters `json:"content_filter_results"`
	PromptFilterResults  promptFilters  `json:"prompt_filter_results"`
	RevisedPrompt        string         `json:"revised_prompt"`
	URL                  string         `json:"url,omitempty"`
}

// serveImages draws each image (bands of colour drawn from the prompt, a
// real PNG of the asked size) after the latency model's first-token wait.
func (s *Server) serveImages(w http.ResponseWriter, r *http.Request, job *imageJob) {
	if !s.wait(r, s.opts.Latency.TimeToFirstToken) {
		s.stats.canceled.Add(1)
		return
	}
	out := struct {
		Created int64       `json:"created"`
		Data    []imageData `json:"data"`
	}{Created: s.opts.Now().Unix()}
	for i := range job.n {
		h := *job.seed
		h.int(int64(i))
		pngBytes := drawPNG(job.width, job.height, h.rand().Uint32())
		d := imageData{
			ContentFilterResults: severityFilters(),
			PromptFilterResults:  promptFilters{Hate: safe(), SelfHarm: safe(), Sexual: safe(), Violence: safe()},
			RevisedPrompt:        job.prompt,
		}
		enc := base64.StdEncoding.EncodeToString(pngBytes)
		if job.responseFormat == "b64_json" {
			d.B64JSON = enc
		} else {
			// There is no blob storage offline: the URL carries the image.
			d.URL = "data:image/png;base64," + enc
		}
		out.Data = append(out.Data, d)
	}
	body, _ := json.Marshal(out)
	s.stats.succeeded.Add(1)
	writeJSON(w, http.StatusOK, body)
}

// drawPNG encodes a w×h image of horizontal colour bands picked from seed.
func drawPNG(w, h int, seed uint32) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bands := 4 + int(seed%5)
	for y := range h {
		band := uint32(y * bands / h)
		c := color.RGBA{R: uint8(seed >> (band % 24)), G: uint8(seed>>8) ^ uint8(band*40), B: uint8(seed>>16) + uint8(band*25), A: 255}
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c.R, c.G, c.B, c.A
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	_ = enc.Encode(&b, img)
	return b.Bytes()
}

// transcriptionJob is a planned transcription or translation.
type transcriptionJob struct {
	dep      *deployment
	task     string // "transcribe" or "translate"
	format   string
	language string
	duration float64 // seconds of audio
	words    []string
}

func (s *Server) planTranscription(dep *deployment, op openai.Operation, form *multipartForm) (*transcriptionJob, []byte) {
	if len(form.file) == 0 {
		return nil, modelError("Missing required parameter: 'file'.", "invalid_request_error", "file", "missing_required_parameter")
	}
	job := &transcriptionJob{dep: dep, task: "transcribe", format: form.values["response_format"], language: form.values["language"]}
	if op.Name == "translations" {
		job.task, job.language = "translate", "english"
	}
	if job.language == "" {
		job.language = "english"
	}
	switch job.format {
	case "":
		job.format = "json"
	case "json", "text", "srt", "verbose_json", "vtt":
	default:
		return nil, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'.", job.format),
			"invalid_request_error", "response_format", "invalid_value")
	}
	job.duration = audioSeconds(form.file)
	h := newHasher(s.opts.Seed, dep.Model)
	h.bytes(form.file)
	rng := h.rand()
	n := max(1, int(job.duration*2.5)) // about 150 words a minute
	for i := range n {
		switch {
		case i == 0:
			job.words = append(job.words, dep.vocab.start[rng.IntN(len(dep.vocab.start))])
		default:
			job.words = append(job.words, dep.vocab.lower[rng.IntN(len(dep.vocab.lower))])
		}
	}
	return job, nil
}

// audioSeconds reads a WAV file's length from its header, or estimates
// 16 kB per second for other formats, at least one second.
func audioSeconds(b []byte) float64 {
	if len(b) >= 44 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE" {
		byteRate := binary.LittleEndian.Uint32(b[28:32])
		if byteRate > 0 {
			return math.Max(float64(len(b)-44)/float64(byteRate), 0.1)
		}
	}
	return math.Max(float64(len(b))/16000, 1)
}

func (s *Server) serveTranscription(w http.ResponseWriter, r *http.Request, job *transcriptionJob) {
	if !s.wait(r, s.opts.Latency.TimeToFirstToken) {
		s.stats.canceled.Add(1)
		return
	}
	text := strings.Join(job.words, "") + "."
	// Segments of up to 12 words, spread evenly over the audio.
	type segment struct {
		ID               int     `json:"id"`
		Seek             int     `json:"seek"`
		Start            float64 `json:"start"`
		End              float64 `json:"end"`
		Text             string  `json:"text"`
		Tokens           []int   `json:"tokens"`
		Temperature      float64 `json:"temperature"`
		AvgLogprob       float64 `json:"avg_logprob"`
		CompressionRatio float64 `json:"compression_ratio"`
		NoSpeechProb     float64 `json:"no_speech_prob"`
	}
	var segs []segment
	per := job.duration / float64(len(job.words))
	for i := 0; i < len(job.words); i += 12 {
		end := min(i+12, len(job.words))
		segs = append(segs, segment{ID: len(segs), Start: round2(float64(i) * per), End: round2(float64(end) * per),
			Text: strings.Join(job.words[i:end], ""), Tokens: []int{}, AvgLogprob: -0.25, CompressionRatio: 1.2, NoSpeechProb: 0.01})
	}
	stamp := func(sec float64, sep string) string {
		d := time.Duration(sec * float64(time.Second))
		return fmt.Sprintf("%02d:%02d:%02d%s%03d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60, sep, d.Milliseconds()%1000)
	}
	s.stats.succeeded.Add(1)
	switch job.format {
	case "json":
		body, _ := json.Marshal(map[string]string{"text": text})
		writeJSON(w, http.StatusOK, body)
	case "verbose_json":
		body, _ := json.Marshal(struct {
			Task     string    `json:"task"`
			Language string    `json:"language"`
			Duration float64   `json:"duration"`
			Text     string    `json:"text"`
			Segments []segment `json:"segments"`
		}{job.task, job.language, round2(job.duration), text, segs})
		writeJSON(w, http.StatusOK, body)
	case "text":
		writeBody(w, http.StatusOK, "text/plain; charset=utf-8", []byte(text+"\n"))
	case "srt":
		var b strings.Builder
		for i, sg := range segs {
			fmt.Fprintf(&b, "%d\n%s --> %s\n%s\n\n", i+1, stamp(sg.Start, ","), stamp(sg.End, ","), strings.TrimSpace(sg.Text))
		}
		writeBody(w, http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
	case "vtt":
		var b strings.Builder
		b.WriteString("WEBVTT\n\n")
		for _, sg := range segs {
			fmt.Fprintf(&b, "%s --> %s\n%s\n\n", stamp(sg.Start, "."), stamp(sg.End, "."), strings.TrimSpace(sg.Text))
		}
		writeBody(w, http.StatusOK, "text/vtt; charset=utf-8", []byte(b.String()))
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// speechJob is a planned audio/speech answer.
type speechJob struct {
	format  string
	seconds float64
	pitch   float64
}

var speechVoices = map[string]bool{"alloy": true, "ash": true, "ballad": true, "coral": true, "echo": true,
	"fable": true, "onyx": true, "nova": true, "sage": true, "shimmer": true, "verse": true}

// maxSpeechInput is OpenAI's bound on the text to speak.
const maxSpeechInput = 4096

func (s *Server) planSpeech(dep *deployment, body []byte) (*speechJob, []byte) {
	var req struct {
		Input          *string  `json:"input"`
		Voice          string   `json:"voice"`
		ResponseFormat string   `json:"response_format"`
		Speed          *float64 `json:"speed"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, modelError("Invalid request: "+jsonProblem(err), "invalid_request_error", "", "")
	}
	switch {
	case req.Input == nil || *req.Input == "":
		return nil, modelError("Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter")
	case len([]rune(*req.Input)) > maxSpeechInput:
		return nil, modelError(fmt.Sprintf("Invalid 'input': string too long. Expected a string with maximum length %d, but got a string with length %d instead.", maxSpeechInput, len([]rune(*req.Input))),
			"invalid_request_error", "input", "string_above_max_length")
	case !speechVoices[req.Voice]:
		return nil, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', and 'verse'.", req.Voice),
			"invalid_request_error", "voice", "invalid_value")
	}
	job := &speechJob{format: req.ResponseFormat}
	switch job.format {
	case "":
		job.format = "mp3"
	case "mp3", "wav", "pcm":
	case "opus", "aac", "flac":
		return nil, modelError(fmt.Sprintf("The simulator generates mp3, wav and pcm audio, not %s.", job.format),
			"invalid_request_error", "response_format", "unsupported_value")
	default:
		return nil, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'.", job.format),
			"invalid_request_error", "response_format", "invalid_value")
	}
	speed := 1.0
	if req.Speed != nil {
		speed = *req.Speed
		if speed < 0.25 || speed > 4 {
			return nil, modelError(fmt.Sprintf("Invalid 'speed': expected a value from 0.25 to 4.0, but got %v instead.", speed),
				"invalid_request_error", "speed", "invalid_value")
		}
	}
	words := len(strings.Fields(*req.Input))
	job.seconds = math.Max(float64(words)/2.5/speed, 0.5)
	h := newHasher(s.opts.Seed, req.Voice)
	job.pitch = 180 + float64(h.rand().IntN(120))
	return job, nil
}

// speechRate is the sample rate of wav and pcm answers, OpenAI's 24 kHz.
const speechRate = 24000

func (s *Server) serveSpeech(w http.ResponseWriter, r *http.Request, job *speechJob) {
	if !s.wait(r, s.opts.Latency.TimeToFirstToken) {
		s.stats.canceled.Add(1)
		return
	}
	var body []byte
	ct := "audio/mpeg"
	switch job.format {
	case "pcm":
		body, ct = tone(job.seconds, job.pitch), "audio/pcm"
	case "wav":
		body, ct = wav(tone(job.seconds, job.pitch)), "audio/wav"
	default:
		body = silentMP3(job.seconds)
	}
	s.stats.succeeded.Add(1)
	writeBody(w, http.StatusOK, ct, body)
}

// tone is 16-bit little-endian mono PCM at speechRate: a quiet sine whose
// pitch stands for the voice, so the bytes are real, playable audio.
func tone(seconds, pitch float64) []byte {
	n := int(seconds * speechRate)
	out := make([]byte, 2*n)
	for i := range n {
		v := int16(3000 * math.Sin(2*math.Pi*pitch*float64(i)/speechRate))
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
	return out
}

// wav wraps mono 16-bit PCM at speechRate in a RIFF/WAVE header.
func wav(pcm []byte) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + len(pcm)))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(speechRate))
	le(uint32(speechRate * 2))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(len(pcm)))
	b.Write(pcm)
	return b.Bytes()
}

// silentMP3 is a stream of silent MPEG-1 Layer III frames (128 kb/s,
// 44.1 kHz, mono): each 417-byte frame is a valid header followed by zero
// side information and data, which decoders play as 26 ms of silence.
// Encoding speech into MP3 needs an encoder the simulator does not carry.
func silentMP3(seconds float64) []byte {
	const frameLen = 417 // 144 * 128000 / 44100, no padding
	frames := int(math.Ceil(seconds * 44100 / 1152))
	out := make([]byte, frames*frameLen)
	for i := range frames {
		copy(out[i*frameLen:], []byte{0xFF, 0xFB, 0x90, 0xC0})
	}
	return out
}
