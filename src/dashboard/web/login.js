// The login page's one behaviour: say so when the last attempt failed (/login?failed).
'use strict';
if (location.search.includes('failed')) document.getElementById('failed').hidden = false;
