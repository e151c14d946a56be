#include "parsers/caffe/prototxt_reader.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace gie {
namespace caffe {
namespace {

struct Token {
    enum class Kind { kEnd, kIdent, kNumber, kString, kSymbol } kind = Kind::kEnd;
    std::string text;   // for kString: the unescaped value
    int line = 1, col = 1;
};

class Tokenizer {
public:
    Tokenizer(const std::string& text, const std::string& name) : t_(text), name_(name) { advance(); }

    const Token& peek() const { return cur_; }
    Token take() {
        Token t = cur_;
        advance();
        return t;
    }
    [[noreturn]] void error(const Token& at, const std::string& msg) const {
        fail(ErrorCode::kINVALID_MODEL, name_, ": prototxt syntax error: ", at.line, ":", at.col, " : ", msg);
    }
    bool isSymbol(char c) const { return cur_.kind == Token::Kind::kSymbol && cur_.text[0] == c; }
    bool trySymbol(char c) {
        if (!isSymbol(c)) return false;
        advance();
        return true;
    }
    void expectSymbol(char c) {
        if (!trySymbol(c)) error(cur_, std::string("Expected \"") + c + "\", found " + describe(cur_) + ".");
    }
    static std::string describe(const Token& t) {
        if (t.kind == Token::Kind::kEnd) return "end of input";
        std::string s = t.text.size() > 60 ? t.text.substr(0, 60) + "..." : t.text;
        return t.kind == Token::Kind::kString ? "string \"" + s + "\"" : "\"" + s + "\"";
    }

private:
    void bump() {
        if (t_[pos_] == '\n') {
            ++line_;
            col_ = 1;
        } else {
            ++col_;
        }
        ++pos_;
    }
    static bool identStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
    static bool identChar(char c) { return identStart(c) || (c >= '0' && c <= '9') || c == '+' || c == '-'; }
    static bool digit(char c) { return c >= '0' && c <= '9'; }

    void advance() {
        const size_t n = t_.size();
        while (pos_ < n) {   // whitespace and # comments
            char c = t_[pos_];
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') bump();
            else if (c == '#') {
                while (pos_ < n && t_[pos_] != '\n') bump();
            } else break;
        }
        cur_ = Token();
        cur_.line = line_;
        cur_.col = col_;
        if (pos_ >= n) return;
        char c = t_[pos_];
        size_t start = pos_;
        if (identStart(c)) {
            cur_.kind = Token::Kind::kIdent;
            while (pos_ < n && identChar(t_[pos_])) bump();
        } else if (digit(c) || c == '+' || c == '-' || (c == '.' && pos_ + 1 < n && digit(t_[pos_ + 1]))) {
            cur_.kind = Token::Kind::kNumber;
            bump();
            while (pos_ < n && (identChar(t_[pos_]) || t_[pos_] == '.')) bump();
        } else if (c == '"' || c == '\'') {
            cur_.kind = Token::Kind::kString;
            readString(c);
            return;
        } else {
            cur_.kind = Token::Kind::kSymbol;
            bump();
        }
        if (pos_ - start > kMaxToken) error(cur_, strcat("a token longer than ", kMaxToken, " bytes"));
        cur_.text = t_.substr(start, pos_ - start);
    }

    static int hexValue(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    void readString(char quote) {
        const size_t n = t_.size();
        bump();
        std::string out;
        while (true) {
            if (pos_ >= n || t_[pos_] == '\n') error(cur_, "String missing ending quote.");
            char c = t_[pos_];
            if (c == quote) {
                bump();
                break;
            }
            if (out.size() >= kMaxToken) error(cur_, strcat("a string longer than ", kMaxToken, " bytes"));
            if (c != '\\') {
                out += c;
                bump();
                continue;
            }
            bump();
            if (pos_ >= n) error(cur_, "String missing ending quote.");
            char e = t_[pos_];
            bump();
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case '?': out += '?'; break;
                case 'x': {
                    int v = 0, k = 0;
                    while (k < 2 && pos_ < n && hexValue(t_[pos_]) >= 0) {
                        v = v * 16 + hexValue(t_[pos_]);
                        bump();
                        ++k;
                    }
                    if (k == 0) error(cur_, "Invalid escape sequence \\x in string.");
                    out += static_cast<char>(v);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        int v = e - '0', k = 1;
                        while (k < 3 && pos_ < n && t_[pos_] >= '0' && t_[pos_] <= '7') {
                            v = v * 8 + (t_[pos_] - '0');
                            bump();
                            ++k;
                        }
                        out += static_cast<char>(v & 0xFF);
                    } else {
                        error(cur_, std::string("Invalid escape sequence \\") + e + " in string.");
                    }
            }
        }
        cur_.text = out;
    }

    const std::string& t_;
    const std::string& name_;
    size_t pos_ = 0;
    int line_ = 1, col_ = 1;
    Token cur_;
};

//! Integer text as protobuf reads it: decimal, 0x hex or 0 octal, with an optional '-'. False if not one
//! or beyond 64 bits (then *overflow is set).
bool parseInteger(const std::string& s, bool* negative, uint64_t* magnitude, bool* overflow) {
    *overflow = false;
    size_t i = 0;
    *negative = !s.empty() && s[0] == '-';
    if (*negative) ++i;
    if (i >= s.size()) return false;
    int base = 10;
    if (s[i] == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        base = 16;
        i += 2;
        if (i >= s.size()) return false;
    } else if (s[i] == '0' && i + 1 < s.size()) {
        base = 8;
        ++i;
    }
    uint64_t v = 0;
    for (; i < s.size(); ++i) {
        char c = s[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 99;
        if (d >= base) return false;
        if (v > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) *overflow = true;
        v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    }
    *magnitude = v;
    return !*overflow;
}

//! Float text as protobuf's text_format reads it: a decimal number, inf / infinity / nan (any case), an
//! optional 'f' suffix.
bool parseFloatText(std::string s, double* out) {
    if (!s.empty() && (s.back() == 'f' || s.back() == 'F') && s.size() > 1) {
        std::string low;
        for (char c : s) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (low != "inf" && low != "-inf") s.pop_back();
    }
    std::string low;
    for (char c : s) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool neg = !low.empty() && (low[0] == '-' || low[0] == '+');
    std::string body = neg ? low.substr(1) : low;
    if (body == "inf" || body == "infinity") {
        *out = low[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
        return true;
    }
    if (body == "nan") {
        *out = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    // digits [. digits] [e[+-]digits] with at least one digit in the mantissa
    size_t i = 0;
    bool mant = false;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, mant = true;
    if (i < body.size() && body[i] == '.') {
        ++i;
        while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, mant = true;
    }
    if (!mant) return false;
    if (i < body.size() && body[i] == 'e') {
        ++i;
        if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
        size_t d0 = i;
        while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
        if (i == d0) return false;
    }
    if (i != body.size()) return false;
    errno = 0;
    *out = std::strtod(s.c_str(), nullptr);   // overflow gives +-inf, as Python's float()
    return true;
}

class Parser {
public:
    Parser(const std::string& text, const std::string& name) : tok_(text, name) {}

    std::shared_ptr<Message> run() {
        auto root = std::make_shared<Message>();
        root->spec = findMessage("NetParameter");
        body(*root, 0, '\0');
        return root;
    }

private:
    //! Fields until `close` ('}' / '>') or, at the top level ('\0'), the end of input.
    void body(Message& m, int depth, char close) {
        while (true) {
            const Token& t = tok_.peek();
            if (close == '\0' && t.kind == Token::Kind::kEnd) return;
            if (close != '\0' && tok_.trySymbol(close)) return;
            if (t.kind == Token::Kind::kEnd)
                tok_.error(t, std::string("Expected \"") + close + "\", found end of input.");
            field(m, depth);
            if (!tok_.trySymbol(',')) tok_.trySymbol(';');
        }
    }

    void field(Message& m, int depth) {
        Token nameTok = tok_.take();
        if (nameTok.kind != Token::Kind::kIdent)
            tok_.error(nameTok, "Expected identifier, found " + Tokenizer::describe(nameTok) + ".");
        const std::string& name = nameTok.text;
        const FieldSpec* fs = m.spec ? m.spec->field(name) : nullptr;
        bool schemaLess = !m.spec;
        if (m.spec && !fs) {
            // Parameter blocks of layers gie has no table for (plugins): read without a schema.
            bool pluginBlock = std::strcmp(m.spec->name, "LayerParameter") == 0 && name.size() > 6 &&
                               name.compare(name.size() - 6, 6, "_param") == 0;
            if (!pluginBlock)
                tok_.error(nameTok, "Message type \"" + m.typeName() + "\" has no field named \"" + name + "\".");
            schemaLess = true;
        }
        Field& f = m.add(name, fs);
        bool colon = tok_.trySymbol(':');
        bool isMessage = fs ? std::strncmp(fs->type, "msg:", 4) == 0 : (tok_.isSymbol('{') || tok_.isSymbol('<'));
        if (!colon && !isMessage) tok_.error(tok_.peek(), "Expected \":\", found " + Tokenizer::describe(tok_.peek()) + ".");
        bool repeated = fs ? fs->label != Label::kOptional : true;
        if (tok_.isSymbol('[')) {
            if (!repeated) tok_.error(tok_.peek(), "Field \"" + name + "\" is not repeated: a list is not allowed.");
            tok_.take();
            if (tok_.trySymbol(']')) return;
            do {
                value(f, fs, isMessage || (schemaLess && (tok_.isSymbol('{') || tok_.isSymbol('<'))), depth, repeated);
            } while (tok_.trySymbol(','));
            tok_.expectSymbol(']');
            return;
        }
        value(f, fs, isMessage, depth, repeated);
    }

    void value(Field& f, const FieldSpec* fs, bool isMessage, int depth, bool repeated) {
        Value v;
        if (isMessage) {
            const Token& open = tok_.peek();
            char close;
            if (tok_.trySymbol('{')) close = '}';
            else if (tok_.trySymbol('<')) close = '>';
            else tok_.error(open, "Expected \"{\", found " + Tokenizer::describe(open) + ".");
            if (depth + 1 > kMaxDepth) tok_.error(open, strcat("messages nested deeper than ", kMaxDepth));
            v.kind = Value::Kind::kMessage;
            v.m = std::make_shared<Message>();
            v.m->spec = fs ? findMessage(fs->type + 4) : nullptr;
            body(*v.m, depth + 1, close);
        } else {
            v = fs ? typedScalar(*fs) : untypedScalar();
            if (packedFloats(fs)) {
                if (fs->type[0] == 'f') f.f32.push_back(static_cast<float>(v.d));
                else f.f64.push_back(v.d);
                return;
            }
        }
        if (!repeated) f.values.clear();   // text_format.Merge: the last value wins
        f.values.push_back(std::move(v));
    }

    std::string joinedString() {
        std::string s = tok_.take().text;
        while (tok_.peek().kind == Token::Kind::kString) {
            s += tok_.take().text;
            if (s.size() > kMaxToken) tok_.error(tok_.peek(), strcat("a string longer than ", kMaxToken, " bytes"));
        }
        return s;
    }

    Value untypedScalar() {
        const Token t = tok_.peek();
        Value v;
        if (t.kind == Token::Kind::kString) {
            v.kind = Value::Kind::kString;
            v.s = joinedString();
            return v;
        }
        tok_.take();
        if (t.kind == Token::Kind::kIdent) {
            double d;
            if (t.text == "true" || t.text == "false" || t.text == "True" || t.text == "False") {
                v.kind = Value::Kind::kBool;
                v.i = t.text[0] == 't' || t.text[0] == 'T';
            } else if (parseFloatText(t.text, &d)) {
                v.kind = Value::Kind::kFloat;
                v.d = d;
            } else {
                v.kind = Value::Kind::kEnum;
                v.s = t.text;
            }
            return v;
        }
        if (t.kind == Token::Kind::kNumber) {
            bool neg, overflow;
            uint64_t mag;
            if (parseInteger(t.text, &neg, &mag, &overflow) && mag <= (neg ? uint64_t(1) << 63 : uint64_t(INT64_MAX))) {
                v.kind = Value::Kind::kInt;
                v.i = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
                return v;
            }
            double d;
            if (parseFloatText(t.text, &d)) {
                v.kind = Value::Kind::kFloat;
                v.d = d;
                return v;
            }
        }
        tok_.error(t, "Expected a value, found " + Tokenizer::describe(t) + ".");
    }

    Value typedScalar(const FieldSpec& fs) {
        const Token t = tok_.peek();
        std::string type = fs.type;
        Value v;
        if (type == "string" || type == "bytes") {
            if (t.kind != Token::Kind::kString) tok_.error(t, "Expected string, found " + Tokenizer::describe(t) + ".");
            v.kind = Value::Kind::kString;
            v.s = joinedString();
            return v;
        }
        tok_.take();
        if (t.kind == Token::Kind::kString) tok_.error(t, "Expected a value for field \"" + std::string(fs.name) + "\", found a string.");
        if (type == "float" || type == "double") {
            double d;
            bool neg, overflow;
            uint64_t mag;
            if (parseInteger(t.text, &neg, &mag, &overflow)) d = neg ? -static_cast<double>(mag) : static_cast<double>(mag);
            else if (!parseFloatText(t.text, &d)) tok_.error(t, "Couldn't parse float: " + t.text);
            v.kind = Value::Kind::kFloat;
            v.d = type == "float" ? static_cast<double>(static_cast<float>(d)) : d;   // float fields are float32
            return v;
        }
        if (type == "bool") {
            v.kind = Value::Kind::kBool;
            if (t.text == "true" || t.text == "t" || t.text == "True" || t.text == "1") v.i = 1;
            else if (t.text == "false" || t.text == "f" || t.text == "False" || t.text == "0") v.i = 0;
            else tok_.error(t, "Expected \"true\" or \"false\", found \"" + t.text + "\".");
            return v;
        }
        if (type.compare(0, 5, "enum:") == 0) {
            const EnumSpec* e = findEnum(type.substr(5));
            v.kind = Value::Kind::kEnum;
            int32_t num;
            if (t.kind == Token::Kind::kIdent && e && e->numberOf(t.text, &num)) {
                v.i = num;
                v.s = t.text;
                return v;
            }
            bool neg, overflow;
            uint64_t mag;
            if (t.kind == Token::Kind::kNumber && parseInteger(t.text, &neg, &mag, &overflow) && mag <= (uint64_t(1) << 31)) {
                int64_t n = neg ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag);
                if (e && e->nameOf(n)) {
                    v.i = n;
                    v.s = e->nameOf(n);
                    return v;
                }
                tok_.error(t, "Enum type \"caffe." + type.substr(5) + "\" has no value with number " + std::to_string(n) + ".");
            }
            tok_.error(t, "Enum type \"caffe." + type.substr(5) + "\" has no value named " + t.text + ".");
        }
        // Integers, with the field type's range.
        bool neg, overflow;
        uint64_t mag;
        if (t.kind != Token::Kind::kNumber || !parseInteger(t.text, &neg, &mag, &overflow)) {
            if (t.kind == Token::Kind::kNumber && overflow) tok_.error(t, "Integer out of range (" + t.text + ")");
            tok_.error(t, "Couldn't parse integer: " + t.text);
        }
        bool isSigned = type == "int32" || type == "int64";
        uint64_t maxPos = type == "int32" ? uint64_t(INT32_MAX) : type == "uint32" ? uint64_t(UINT32_MAX)
                        : type == "int64" ? uint64_t(INT64_MAX) : UINT64_MAX;
        uint64_t maxNeg = type == "int32" ? uint64_t(1) << 31 : type == "int64" ? uint64_t(1) << 63 : 0;
        if ((neg && (!isSigned || mag > maxNeg)) || (!neg && mag > maxPos))
            tok_.error(t, "Integer out of range (" + t.text + ") for " + type + " field \"" + fs.name + "\"");
        if (!neg && mag > uint64_t(INT64_MAX)) tok_.error(t, "Integer out of range (" + t.text + ")");   // uint64 beyond int64
        v.kind = Value::Kind::kInt;
        v.i = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
        return v;
    }

    Tokenizer tok_;
};

}  // namespace

std::shared_ptr<Message> parsePrototxt(const std::string& text, const std::string& name) {
    return Parser(text, name).run();
}

}  // namespace caffe
}  // namespace gie
